// Package gen is the code generator behind `plexus gen`: it reads a Go
// package with go/types, finds the interfaces marked as services, and
// writes the typed client, the server registration, the service
// description, the one-call service value a plugin serves (NewXService)
// and the argument and result codecs of their methods. What is the same
// in every generated file (receiving and pumping stream messages, the
// service value's type) is not written into it: generated code calls
// package genrt, its small runtime, and each generated message type
// implements genrt.Message (DecodePlexus).
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
// A unary method whose doc comment has the line "//plexus:idempotent" is
// described as such (plexus.MethodDesc.Idempotent): running it twice with
// the same arguments does what running it once does, so a retry policy
// may call it again after a failure that may have come after it ran, and
// the serving side's idempotency cache answers a repeat with the first
// result.
//
// Arguments, results and stream messages may be of the types the codec
// supports (package codec): bool, integers, floats, strings, []byte,
// slices, maps, pointers, time.Time, time.Duration, and named types whose
// pointer has msgp's MarshalMsg, UnmarshalMsg and Msgsize, and leases
// where "Leases" allows them. Anything else is rejected with the file,
// line, method, parameter and reason.
//
// # Leases
//
// A *session.Lease (link memory from Session.Alloc, filled in place) is a
// whole message of its own, never an element of a tuple, so that on shared
// memory it crosses without a copy. It may be:
//
//   - the only parameter after the context of a unary method or a
//     notification: the lease is the request (the NOTIFY payload) itself;
//   - the only result before the error of a unary method: the lease is the
//     response itself;
//   - the element type of a stream func, in either direction: each lease
//     is one stream message.
//
// The two sides of a unary method are independent: Put(ctx, l
// *session.Lease) (int, error) sends the lease and receives a tuple, and
// Get(ctx, key string) (*session.Lease, error) the reverse. Anywhere else
// a lease is rejected: beside other parameters or results ("a
// *session.Lease must be the only argument of M after the context"; carry
// the other values in the lease's bytes or make two calls), as an
// argument or result of a streaming method, inside a slice, map, pointer
// or struct, or as session.Lease by value. Mixing leases with other values
// in one message would need attachments (codec.AttachmentExt: the tuple
// holds a reference, the lease travels beside it), which need a session
// message of several frames; the generator does not produce them.
//
// Ownership follows the session's rules. A lease given to the client (as
// an argument, or to a typed stream's Send) is taken over: it is sent
// without a copy if it was allocated from the session the call goes
// through, copied once otherwise (a lease of another link, outgoing
// metadata, the socket and in-process transports), and released whatever
// happens, also when the call fails before sending. A nil lease fails
// with INVALID_ARGUMENT before anything is sent. A lease the client
// returns (a result, a stream message) is a view of the received bytes
// that the caller must Release; until then it holds the sender's memory
// and, for a stream, the stream's flow-control credit. On the serving
// side a unary method's or notification's lease argument is a view of the
// request, valid until the response is encoded (Release is not needed: it
// does nothing); leases received from a stream are the handler's to
// Release. A handler allocates what it returns or sends with
// session.FromContext(ctx).Alloc, so that it crosses without a copy; the
// generated code sends it and releases it, also when the handler returns
// it with an error. A handler that returns a nil lease fails the call with
// INTERNAL.
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
// # Typed topics
//
// A message type (a named type whose pointer has msgp's methods) whose
// doc comment has the line "//plexus:topic <pattern>" gets a typed topic
// of the bus: var <Type>Topic = genrt.Topic[<Type>, *<Type>]{Pattern,
// Type}. Its Message encodes a value for a subject the pattern matches,
// Options makes a subscription typed, Decode decodes a delivery. Type is
// the 64-bit FNV-1a hash of "plexus.topic.v1 <pattern> <canonical type>"
// (canonical as for signatures, below), which the bus checks: a typed
// subscriber whose type differs from a subject's is refused when it
// joins, and so is a typed message of another type (VERSION_MISMATCH;
// bus/types.go). A package may hold topics without services.
//
// # Wire form
//
// A call's arguments are a MessagePack array of the parameters in order
// (without the context and the stream funcs), its results an array of the
// results before the error; a lease is the raw bytes of its message,
// without an array around it (see "Leases"). A stream call sends the arguments in its OPEN
// frame; each stream message is an array of one element; a client
// streaming call's results come as one message before the final status.
// On the serving side []byte arguments of unary methods are views into
// the request payload, which the session keeps until the response has been
// encoded (so a result may alias an argument); those of notifications are
// valid until the handler returns. Stream messages and everything on the
// calling side are copies, except leases (see "Leases") and the []byte
// values in a unary call's results when the call's context comes from
// plexus.WithViews: those are views of the received bytes (in shared
// memory, the peer's slot or blob), valid until the scope's release, which
// the caller must call once it is done with them; they save a copy and an
// allocation of every []byte result.
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
// count. A *session.Lease is written "lease". The generated ServiceDesc
// shows each text in a comment.
//
// # Serving
//
// NewSService(impl) is the one call that makes an implementation of S
// something to serve: a genrt.Service, which is plugin.Service, so that a
// plugin lists it as it is,
//
//	plugin.ServeConfig{Versions: map[uint32][]plugin.Service{1: {greeter.NewGreeterService(impl{})}}}
//
// and a test serves it with plexustest.Pair. It carries SServiceDesc (the
// handshake compares it with the host's) and registers impl with RegisterS
// when the services are registered; a nil impl fails there, as the plugin
// starts. The value is genrt's type rather than package plugin's because
// plugin's own tests import generated packages: generated code importing
// plugin would make an import cycle. RegisterS(m, impl) remains for a Mux
// of one's own (the host's HostServices, a hand-built session).
//
// # Generated identifiers
//
// For a service S the generated file declares SService (its name),
// SServiceDesc (a plexus.ServiceDesc), SClient with NewSClient,
// NewSService, RegisterS, S_<Method>Client for streaming methods, and
// unexported identifiers starting with the service's name in lower case or
// with "plexus". A package that declares one of the exported ones itself,
// or two services whose generated identifiers coincide (S and NewS both
// want NewSService), is rejected, naming the declaration, rather than
// generating a file that does not compile.
//
// Lifetime and concurrency: Generate may be called from several
// goroutines (loads are serialised: they share one source importer). The
// generated client is safe for concurrent use if its session.Conn is; a
// typed stream may have one goroutine sending and one receiving. Unary
// calls take their argument and result tuples from a sync.Pool, so they
// rely on the Conn not keeping req or resp after Invoke returns.
package gen
