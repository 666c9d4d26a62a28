// Command callpath measures the functions one unary call passes through on
// the caller's side, over shared memory, and prints them in call order
// with the file of each: the list in ARCHITECTURE.md comes from it.
//
//	go run ./internal/tools/callpath
//
// It copies the module to a temporary directory, adds a call to a recorder
// at the top of every function of the packages a call crosses (the
// generated client and its codec, session, transport, shmlink, shm, ring,
// wire, codec, genrt), and runs one unary call of a generated client
// against a server over a shared-memory pair in one process, after a
// warm-up; the list is the union of 20 such calls, since whether the
// response is there when the caller first looks varies from call to call. The recorder keeps the functions entered by the calling
// goroutine only, each once, in the order first entered; the server's side
// and the session's background goroutines are not the caller's path.
// Functions the compiler inlines (go build -gcflags=-m) are marked: they
// are read, but cost no frame.
//
// Lifetime and concurrency: a one-shot program; the copy is removed when
// it exits. It changes nothing in the module it measures.
package main
