// Package domain holds mulegate's rules, free of HTTP and Redis: reports
// about suspicious IBANs (categories, validation, status), their reviews
// and review requests, the counting rules of a lookup and its risk
// rating, markers, alerts and events, rate limits and decisions, who
// holds an IBAN (routing), and the domain error type every layer uses to
// say what went wrong. It imports only the standard library and
// internal/iban.
package domain
