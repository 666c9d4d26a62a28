// Package ring implements a single-producer single-consumer ring of fixed
// 64-byte cells over a caller-given byte region. A cell holds one of package
// wire's descriptors, which the ring moves without looking into, except
// for bytes 10 and 11 (a descriptor's reserved field, always zero), where
// the producer stamps each cell to publish it: the consumer finds a cell
// published by its stamp, so one cache line crosses between processors
// per cell. The consumer's copy has zero there again. The region
// may be heap memory (tests) or a shared mapping (production, see package
// shm); the ring makes no system calls of its own (a doorbell it is given
// may) and never allocates.
//
// Layout (little-endian, see SPEC.md "Ring"): a 256-byte header of four
// cache lines (tail, head, consumer-parked flag, producer-waiting flag), then
// capacity*64 bytes of cells. Capacity is a power of two.
//
// Lifetime: a region is initialised once with Init by the side that creates
// it; afterwards exactly one Producer and one Consumer may be attached, each
// possibly in a different process. The region must outlive both.
//
// Concurrency: a Producer may be shared by the goroutines of its process
// (its methods serialise on a mutex: the ring's single producer is the
// process); a Consumer is used by one goroutine at a time, except Pending,
// which any goroutine may call. The two ends run concurrently with each
// other, in one process or two.
// Neither trusts the other: each keeps its own index privately and only
// publishes it. The producer bounds-checks the head it reads, so a peer
// writing garbage there yields ErrCorrupt, never a panic or an
// out-of-range access; the consumer reads no index of the peer's (the
// tail is stored for figures only), and garbage in cells or stamps only
// makes cells look published or not, which the consumer's caller then
// validates as it does every descriptor.
//
// Parking: the consumer sets the parked flag, then looks at the stamp of
// the cell at its head, before it blocks on its doorbell; Push reports
// whether the flag was set (and clears it), so the doorbell rings only
// when the consumer actually sleeps: Push rings it itself when given it
// (SetDoorbell, a Doorbell interface: the ring makes no system call of
// its own), and its caller otherwise. The
// producer-waiting flag is the mirror image for a producer waiting for
// space, which Pop rings.
package ring
