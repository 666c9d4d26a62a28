// Package codec encodes the arguments, results and errors of plexus calls
// as MessagePack, built on github.com/tinylib/msgp's primitives, with no
// reflection on the call path.
//
// Encoding is a family of Append functions (AppendInt64, AppendString,
// AppendSlice, AppendMap, AppendPtr, AppendTime, AppendAttachment,
// AppendMsg, ...) that add one value to a byte slice, as strconv does.
// Decoding goes through a Decoder over one received message, which checks
// every length and count the input declares against the bytes left and
// against its Limits before allocating anything for it, and fails with an
// *Error that wraps ErrMalformed or ErrLimit and says what and where.
//
// The wire format of each type, the reserved extension numbers and the
// encoding of application errors are specified in SPEC.md ("Value
// encoding").
//
// # Memory bound
//
// A declared str or bin length must fit in the input left; an array of n
// elements needs at least n bytes left and a map of n entries 2n; the sum
// of all counts in one Decoder's life is at most MaxElements; nesting is
// at most MaxDepth. So decoding an input of L bytes allocates at most
// about L bytes for strings and copied bytes plus, for containers,
// min(L, MaxElements) elements of the largest element type involved, and
// recursion is at most MaxDepth deep. A 20-byte input that declares a
// 4 GiB string or four billion elements fails before anything is
// allocated for it (the tests hold such decodes under 1 KiB, error
// included).
//
// ReadMsg hands the value to a msgp-generated UnmarshalMsg, which
// allocates by the counts it reads without such checks. ReadMsg therefore
// first walks the value with the same checks (Raw), then copies exactly
// that value, walks the copy again, and calls UnmarshalMsg on the copy:
// every count the generated code sees has passed them, so the same bound
// holds for it. The copy is there because the input may be memory the
// peer can still write (a slot of the segment): a count it changed
// between the walk and the decode would otherwise reach the generated
// code unchecked. Every other decoder reads each header once and uses
// what it read.
//
// # Views and lifetime
//
// Bytes, StringView and Raw return views into the Decoder's input, not
// copies (their capacity ends with the value, so appending to them
// copies). A view is valid as long as the input is: on the receiving side
// of a call, the session keeps a message's payload valid until the handler
// returns, or, for a decoded message that implements plexus.Retainer,
// until it calls the release function it was given. Use BytesCopy or
// String for values that must live longer.
//
// # Concurrency
//
// The Append functions are pure. A Decoder holds the position in its
// input and is not safe for concurrent use; decoding the same input with
// several Decoders at once is safe, since decoding never writes to its
// input. After a Decoder method fails, the Decoder's position is
// unspecified: report the error rather than decoding on. The application
// error registry (RegisterError, RegisterErrorType) is safe for
// concurrent use and is meant to be filled at init time.
package codec
