// Package gen is the code generator behind `plexus gen`: it reads a Go
// package with go/types, finds the interfaces marked as services, and
// writes the typed client, the server registration, the service
// description and the argument and result codecs of their methods.
//
// # Services and methods
//
// A service is an interface whose doc comment has a line
// "//plexus:service" (optionally "//plexus:service name=pkg.Name" to
// choose the name it is served under; the default is the package name, a
// dot and the interface name). Each method takes a context.Context first
// and returns an error last. Its shape follows from its signature:
//
//	Get(ctx, key string) (Value, error)                        unary
//	Watch(ctx, prefix string, send func(Event) error) error    server streaming
//	Upload(ctx, name string, recv func() (Chunk, error)) (Summary, error)
//	                                                           client streaming
//	Chat(ctx, room string, recv func() (In, error), send func(Out) error) error
//	                                                           bidirectional
//	//plexus:notify
//	Log(ctx, line string) error                                notification
//
// A func(T) error parameter is what the handler sends, a func() (T, error)
// parameter what it receives (io.EOF ends it); they come last, the
// receiving one first. A handler that streams to the caller returns only
// an error. A notification (the method's doc comment has the line
// "//plexus:notify") has no results but the error, which on the calling
// side says whether it was sent. The same interface is implemented by the
// handler and by the generated client, whose streaming methods call the
// funcs they are given; the client also has Open<Method>, which returns a
// small typed stream interface (Send, Recv, CloseSend, CloseAndRecv,
// Close as the shape needs) over a *session.Stream.
//
// Arguments, results and stream messages may be of the types the codec
// supports (package codec): bool, integers, floats, strings, []byte,
// slices, maps, pointers, time.Time, time.Duration, and named types whose
// pointer has msgp's MarshalMsg, UnmarshalMsg and Msgsize. Leases are not
// supported yet. Anything else is rejected with the file, line, method,
// parameter and reason.
//
// # Application errors
//
// "//plexus:errors A,otherpkg.B" on a service (all its methods) or on a
// method declares the application error types it may return: *A must
// implement error and msgp's Marshaler and Unmarshaler. The generated file
// registers each with codec.EnsureErrorType, under ErrorName() if *A has
// that method and "pkg.A" otherwise, so that such an error returned by a
// handler comes back to the caller as *A (errors.As works) while statuses
// stay *plexus.Status.
//
// # Wire form
//
// A call's arguments are a MessagePack array of the parameters in order
// (without the context and the stream funcs), its results an array of the
// results before the error. A stream call sends the arguments in its OPEN
// frame; each stream message is an array of one element; a client
// streaming call's results come as one message before the final status.
// On the serving side []byte arguments of unary methods and notifications
// are views into the request payload, valid until the handler returns
// (they must not be returned as results, which are encoded after the
// request is released); stream messages and everything on the calling
// side are copies.
//
// # Signature hash
//
// Each method's MethodDesc carries Signature, the 64-bit FNV-1a hash of
// the text
//
//	plexus.sig.v1 <Kind> args(<T>,...) results(<T>,...)[ up(<T>)][ down(<T>)]
//
// where Kind is the plexus.MethodKind name (Unary, ServerStream,
// ClientStream, BidiStream, Notification), args are the parameters after
// the context and before the stream funcs, results those before the error,
// up the type the handler receives and down the type it sends. A type is
// written as go/types writes it with every package qualified by its full
// import path; a named type is followed by "=" and its underlying type
// (so for a msgp struct its field names, types and tags), and slices,
// maps and pointers are written element by element the same way.
// time.Time and time.Duration are written as such. Parameter names do not
// count. The generated ServiceDesc shows each text in a comment.
//
// # Generated identifiers
//
// For a service S the generated file declares SService (its name),
// SServiceDesc (a plexus.ServiceDesc), SClient with NewSClient, RegisterS,
// S_<Method>Client for streaming methods, and unexported identifiers
// starting with the service's name in lower case or with "plexus".
//
// Lifetime and concurrency: Generate may be called from several
// goroutines (loads are serialised: they share one source importer). The
// generated client is safe for concurrent use if its session.Conn is; a
// typed stream may have one goroutine sending and one receiving. Unary
// calls take their argument and result tuples from a sync.Pool, so they
// rely on the Conn not keeping req or resp after Invoke returns.
package gen
