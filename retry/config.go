package retry

import (
	"fmt"

	"github.com/plexus-ipc/plexus"
)

// Config is a Conn's retry configuration.
type Config struct {
	// Default is the policy of every method Methods does not name.
	Default Policy
	// Methods overrides Default per method ID (plexus.MethodID); each
	// policy's zero fields take the package defaults, not Default's.
	Methods map[uint64]Policy
	// Services tell which methods are idempotent
	// (plexus.MethodDesc.Idempotent), typically the generated
	// XServiceDesc values. A method listed without an ID gets
	// plexus.MethodID(service, method). Methods not described here are
	// not idempotent: they are retried only when a call never left.
	Services []plexus.ServiceDesc
	// Throttle, if set, limits retries while most calls fail; nil: no
	// limit beyond each call's policy.
	Throttle *Throttle
}

// table is a Config compiled for lookups on the call path: a Conn reads
// it without a lock, since nothing changes it after NewConn.
type table struct {
	def     *policy
	methods map[uint64]*policy
	bucket  *bucket
}

func (cfg Config) compile() (*table, error) {
	t := &table{methods: map[uint64]*policy{}}
	var err error
	if t.def, err = cfg.Default.compile("Default"); err != nil {
		return nil, err
	}
	idem, err := idempotentMethods(cfg.Services)
	if err != nil {
		return nil, err
	}
	for id, p := range cfg.Methods {
		mp, err := p.compile(fmt.Sprintf("Methods[%#x]", id))
		if err != nil {
			return nil, err
		}
		mp.idempotent = idem[id]
		t.methods[id] = mp
	}
	// An idempotent method without a policy of its own takes Default's,
	// marked idempotent, so that the call path needs one lookup.
	for id, ok := range idem {
		if _, own := t.methods[id]; own || !ok {
			continue
		}
		mp := *t.def
		mp.idempotent = true
		t.methods[id] = &mp
	}
	if cfg.Throttle != nil {
		if t.bucket, err = cfg.Throttle.compile(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// idempotentMethods maps the method IDs of services to whether each is
// idempotent. A method described twice with different answers is an
// error: which one holds would depend on the order of Services.
func idempotentMethods(services []plexus.ServiceDesc) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	for i, s := range services {
		for j, m := range s.Methods {
			id := m.ID
			if id == 0 {
				if s.Name == "" || m.Name == "" {
					return nil, fmt.Errorf("retry: Config.Services[%d].Methods[%d] has neither an ID nor a service and method name", i, j)
				}
				id = plexus.MethodID(s.Name, m.Name)
			}
			if prev, dup := out[id]; dup && prev != m.Idempotent {
				return nil, fmt.Errorf("retry: Config.Services[%d].Methods[%d] (%s.%s, %#x) is described both idempotent and not", i, j, s.Name, m.Name, id)
			}
			out[id] = m.Idempotent
		}
	}
	return out, nil
}

// lookup returns the policy of method.
func (t *table) lookup(method uint64) *policy {
	if p, ok := t.methods[method]; ok {
		return p
	}
	return t.def
}
