package wire

// The flags byte. The lower nibble belongs to the transport (where the
// payload is), the upper nibble to the session (what the frame means).
// A bit not named here is reserved and must be zero.
const (
	// FlagInline: the payload (Length bytes) is stored in the descriptor
	// from InlineOffset; Slot, Gen and Offset are not present.
	FlagInline uint8 = 1 << 0
	// FlagSlot: the payload lives in a slot of the sender's pool at
	// (Slot, Gen, Offset, Length).
	FlagSlot uint8 = 1 << 1
	// FlagBlob: the payload travels in a sealed memfd passed over the
	// control socket (shared-memory transport only; SPEC.md "Blobs").
	FlagBlob uint8 = 1 << 2
	// flagSpare is reserved on every transport.
	flagSpare uint8 = 1 << 3

	// PlacementFlags say where the payload is. A transport sets them on
	// Send and clears them before it hands a frame to the session.
	PlacementFlags = FlagInline | FlagSlot | FlagBlob
	// CallerReserved are the transport bits a caller of Send may not set:
	// BLOB is set by the shared-memory transport alone, and the spare bit
	// by nobody. Every transport refuses both alike, so a descriptor is
	// accepted or refused the same way whatever carries it.
	CallerReserved = FlagBlob | flagSpare
	// TransportFlags is the transport's nibble.
	TransportFlags = FlagInline | FlagSlot | CallerReserved

	// FlagEnd: the sender's last frame on the channel (half-close).
	FlagEnd uint8 = 1 << 4
	// FlagMD: the payload starts with a metadata block (metadata.go).
	FlagMD uint8 = 1 << 5
	// FlagMsg: the payload (after any metadata) is one encoded message.
	FlagMsg uint8 = 1 << 6
	// FlagPacked: DATA with MSG only; the payload is several messages,
	// each behind a u16 length (SPEC.md "Packed messages").
	FlagPacked uint8 = 1 << 7
	// SessionFlags is the session's nibble.
	SessionFlags = FlagEnd | FlagMD | FlagMsg | FlagPacked
)
