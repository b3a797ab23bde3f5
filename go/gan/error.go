package gan

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. They are transport-neutral; the HTTP layer maps each to one status.
const (
	EINVALID     = "invalid"     // the caller sent something outside the allowed range
	ENOTFOUND    = "not_found"   // a model, version or file does not exist
	ECONFLICT    = "conflict"    // the request clashes with work in progress
	EUNAVAILABLE = "unavailable" // the service cannot take the request now
	EINTERNAL    = "internal"    // a bug or a failure the caller cannot fix
)

// Error is ganhost's error type. Message is written for the client; causes that must not reach
// the client stay in the wrapped error.
type Error struct {
	Code       string
	Message    string
	Err        error         // optional cause, for logs only
	RetryAfter time.Duration // when > 0, retrying after this long can succeed (EUNAVAILABLE)
}

// Error returns the client message, followed by the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted client message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message that keeps err as its cause.
func Wrap(err error, code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other error
// and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the client message of the first *Error in err's chain, and a generic
// message for any other error so internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
