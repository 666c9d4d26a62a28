package hostile

import (
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
	"github.com/plexus-ipc/plexus/internal/handshake"
)

// Environment of the role processes.
const (
	envRole    = "PLEXUS_HOSTILE_ROLE"    // which role this process plays
	envAttack  = "PLEXUS_HOSTILE_ATTACK"  // the hostile plugin's attack
	envAttacks = "PLEXUS_HOSTILE_ATTACKS" // the attacks a host or hostile host runs, comma-separated
	envLog     = "PLEXUS_HOSTILE_LOG"     // "1": the host role copies its log to stderr
)

const cookie = "plexus-hostile-suite"

// The target service: served by the host to its plugins (HostServices),
// and by the victim plugin to its host. Hand-written handlers, so the
// signature hashes are arbitrary but equal on both sides.
const (
	targetService = "hostile.Target"
	targetSig     = 0x7a46
)

var (
	echoID  = plexus.MethodID(targetService, "Echo")  // unary: the request back
	holdID  = plexus.MethodID(targetService, "Hold")  // stream: waits for the call's end
	drainID = plexus.MethodID(targetService, "Drain") // stream: pauses, then receives until the end
	slowID  = plexus.MethodID(targetService, "Slow")  // notification: takes a while per message

	stampID    = plexus.MethodID(kvtest.StoreService, "Stamp") // its args hold a map of msgp Entry values
	shutdownID = handshake.ShutdownMethod
)

// Limits of the session that the attacks aim at.
const (
	linkWindow = 1 << 20 // session.DefaultLinkWindow
	chanWindow = 64 << 10
)

// Control-socket messages (SPEC.md "Control messages").
const (
	ctlBlob   = 1
	ctlBuffer = 2
	ctlFree   = 3
	ctlForget = 4
)

// warmupCalls is how many calls a hostile peer serves (or makes) honestly
// before it attacks.
const warmupCalls = 3
