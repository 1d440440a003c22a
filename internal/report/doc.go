// Package report holds mulegate's domain: reports about suspicious IBANs,
// their categories and validation, the lookup answer with its risk rating,
// report status, and the domain error type that every layer uses to say
// what went wrong without knowing about HTTP or Redis. It imports only the
// standard library and internal/iban.
package report
