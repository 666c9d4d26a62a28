package session_test

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// A blob written in place into a lease, read in place by the handler,
// which answers with a lease of its own. On shared memory neither crosses
// with a copy; this example runs in one process (transport/inproc), where
// leases are ordinary memory, but the code is the same.
func ExampleSession_Alloc() {
	ctx := context.Background()
	mux := session.NewMux()
	sumID, _ := mux.HandleUnary("example.Blobs", "Sum", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		// req is a view of the caller's lease, valid while the call runs.
		var sum uint64
		for _, b := range req {
			sum += uint64(b)
		}
		// Allocated from the link the call came on, the response lease
		// crosses back without a copy.
		out, err := session.FromContext(ctx).Alloc(8)
		if err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint64(out.Bytes(), sum)
		return out, nil
	})
	a, b := inproc.Pipe(inproc.Config{})
	server := session.New(b, session.Config{Role: session.Acceptor, Mux: mux})
	defer server.Close()
	caller := session.New(a, session.Config{Role: session.Initiator})
	defer caller.Close()

	req, err := caller.Alloc(1 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range req.Bytes() { // fill it in place: decode, read a file, ...
		req.Bytes()[i] = 3
	}
	var resp session.Lease // a view of the handler's lease until Release
	if err := caller.Invoke(ctx, sumID, req, &resp); err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Release()
	fmt.Println(binary.LittleEndian.Uint64(resp.Bytes()))
	// Output: 3145728
}
