package domain

import "errors"

// Code classifies a domain error. httpapi maps each code to an HTTP status
// and a stable problem code; nothing below httpapi knows about HTTP.
type Code string

const (
	CodeInvalid      Code = "invalid"      // malformed or out-of-range input
	CodeInvalidIBAN  Code = "invalid_iban" // the IBAN breaks an ISO 13616 rule
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"      // idempotency key reused with another payload
	CodeUnavailable  Code = "unavailable"   // the store cannot be reached right now
	CodeUnroutable   Code = "unroutable"    // no bank org holds the IBAN
	CodeForbidden    Code = "forbidden"     // a party asks for an action that is not theirs
	CodeInvalidState Code = "invalid_state" // the action is not allowed in the current state
	CodeInternal     Code = "internal"
)

// Error is a domain error with a message that is safe to show any caller:
// it never contains internal addresses, stack traces or another caller's
// IBAN. Field names the offending input field for CodeInvalid.
type Error struct {
	Code  Code
	Field string
	Msg   string
	Err   error // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Msg + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid is a CodeInvalid error naming a field.
func Invalid(field, msg string) *Error { return &Error{Code: CodeInvalid, Field: field, Msg: msg} }

// Unavailable wraps an infrastructure failure that a retry may cure.
func Unavailable(op string, err error) *Error {
	return &Error{Code: CodeUnavailable, Msg: "the report store is unavailable, retry later", Err: wrapOp(op, err)}
}

// Internal wraps a failure that is our fault.
func Internal(op string, err error) *Error {
	return &Error{Code: CodeInternal, Msg: "internal error", Err: wrapOp(op, err)}
}

func wrapOp(op string, err error) error {
	if err == nil {
		return errors.New(op)
	}
	return &opError{op, err}
}

type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// ErrorCode returns the code of err if it is (or wraps) an *Error, else
// CodeInternal.
func ErrorCode(err error) Code {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return CodeInternal
}
