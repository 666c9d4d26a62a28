package plexus

import (
	"context"
	"errors"
	"fmt"
)

// Code is a call or link status. Values 0-16 follow gRPC's numbering so
// that code written against gRPC statuses reads the same; values from 64 up
// describe the link rather than the call.
type Code uint32

const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16

	// PeerDied: the process at the other end of the link exited, crashed,
	// or stopped answering heartbeats. Every call in flight on the link
	// fails with it at once.
	PeerDied Code = 64
	// ProtocolViolation: the peer sent something the protocol forbids; the
	// link is closed.
	ProtocolViolation Code = 65
	// VersionMismatch: the two sides share no protocol version, or a
	// service's method signatures differ between host and plugin.
	VersionMismatch Code = 66
	// LinkClosed: this side closed the link; calls made afterwards fail.
	LinkClosed Code = 67
	// ApplicationError: the handler returned a typed application error; the
	// details carry its encoding (see the codec).
	ApplicationError Code = 68
)

var codeNames = map[Code]string{
	OK: "OK", Canceled: "CANCELED", Unknown: "UNKNOWN", InvalidArgument: "INVALID_ARGUMENT",
	DeadlineExceeded: "DEADLINE_EXCEEDED", NotFound: "NOT_FOUND", AlreadyExists: "ALREADY_EXISTS",
	PermissionDenied: "PERMISSION_DENIED", ResourceExhausted: "RESOURCE_EXHAUSTED",
	FailedPrecondition: "FAILED_PRECONDITION", Aborted: "ABORTED", OutOfRange: "OUT_OF_RANGE",
	Unimplemented: "UNIMPLEMENTED", Internal: "INTERNAL", Unavailable: "UNAVAILABLE",
	DataLoss: "DATA_LOSS", Unauthenticated: "UNAUTHENTICATED", PeerDied: "PEER_DIED",
	ProtocolViolation: "PROTOCOL_VIOLATION", VersionMismatch: "VERSION_MISMATCH",
	LinkClosed: "LINK_CLOSED", ApplicationError: "APPLICATION_ERROR",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("CODE(%d)", uint32(c))
}

// Status is the error type of every failed call and link. It compares with
// errors.Is by code: errors.Is(err, plexus.ErrPeerDied) holds for any
// status with code PeerDied, whatever its message.
type Status struct {
	Code    Code
	Message string
	// Details is opaque to the session layer; generated code uses it to
	// carry typed application errors.
	Details []byte
	// cause is a local error that produced this status (never sent).
	cause error
}

// Errorf returns a status with a formatted message.
func Errorf(c Code, format string, args ...any) *Status {
	return &Status{Code: c, Message: fmt.Sprintf(format, args...)}
}

// WithCause returns a status that also unwraps to cause, for local errors
// (an I/O error that killed the link, say) that callers may want to test.
func WithCause(c Code, cause error, msg string) *Status {
	return &Status{Code: c, Message: msg, cause: cause}
}

func (s *Status) Error() string {
	if s.Message == "" {
		return "plexus: " + s.Code.String()
	}
	return "plexus: " + s.Code.String() + ": " + s.Message
}

// Is matches any *Status with the same code, so sentinel statuses work
// with errors.Is.
func (s *Status) Is(target error) bool {
	t, ok := target.(*Status)
	return ok && t.Code == s.Code
}

func (s *Status) Unwrap() error { return s.cause }

// Sentinels for errors.Is; compare codes, not messages.
var (
	ErrCanceled          = &Status{Code: Canceled}
	ErrDeadlineExceeded  = &Status{Code: DeadlineExceeded}
	ErrNotFound          = &Status{Code: NotFound}
	ErrResourceExhausted = &Status{Code: ResourceExhausted}
	ErrUnimplemented     = &Status{Code: Unimplemented}
	ErrInternal          = &Status{Code: Internal}
	ErrUnavailable       = &Status{Code: Unavailable}
	ErrInvalidArgument   = &Status{Code: InvalidArgument}
	ErrPeerDied          = &Status{Code: PeerDied}
	ErrProtocolViolation = &Status{Code: ProtocolViolation}
	ErrVersionMismatch   = &Status{Code: VersionMismatch}
	ErrLinkClosed        = &Status{Code: LinkClosed}
)

// CodeOf returns the code of err: OK for nil, the status code for a
// *Status anywhere in the chain, Canceled or DeadlineExceeded for the
// context errors, Unknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var s *Status
	if errors.As(err, &s) {
		return s.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	}
	return Unknown
}
