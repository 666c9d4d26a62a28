package handshake

import "github.com/plexus-ipc/plexus"

func sampleHello() *Hello {
	return &Hello{MinProtocol: 1, MaxProtocol: 3, Cookie: "plexus-test=1", Versions: []uint32{1, 2, 5},
		Limits: Limits{MaxPayload: 1 << 20, ChannelWindow: 64 << 10, LinkWindow: 1 << 20}}
}

func sampleReply() *Reply {
	return &Reply{Protocol: 1, Version: 2, Limits: Limits{MaxPayload: 1 << 20, ChannelWindow: 128 << 10, LinkWindow: 2 << 20},
		Services: []Service{{Name: "test.Echo", Methods: []Method{
			{Name: "Echo", ID: plexus.MethodID("test.Echo", "Echo"), Signature: 0xfeed},
			{Name: "Sum", ID: plexus.MethodID("test.Echo", "Sum"), Signature: 7},
		}}, {Name: "empty.Svc"}}}
}

// sampleReplyV3 is a REPLY of the first protocol that lists the host
// services the plugin calls.
func sampleReplyV3() *Reply {
	r := sampleReply()
	r.Protocol = HostServicesProtocol
	r.HostServices = []Service{{Name: "test.Host", Methods: []Method{
		{Name: "Greet", ID: plexus.MethodID("test.Host", "Greet"), Signature: 0xabcd},
		{Name: "Raw", ID: plexus.MethodID("test.Host", "Raw")}, // not described: signature 0
	}}}
	return r
}
