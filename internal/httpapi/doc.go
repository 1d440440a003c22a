// Package httpapi is mulegate's HTTP edge: the Gin engine with every route
// in routes.go, the middleware chain (recovery, request id, access log,
// client certificate, token, scope), strict request decoding, and the one
// place where errors become RFC 9457 problem answers. It also serves the
// operations listener (/healthz, /readyz, /metrics). Only this package
// knows HTTP status codes. It imports the domain, internal/auth and Gin.
package httpapi
