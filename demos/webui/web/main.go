//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"syscall/js"
	"time"

	"github.com/plexus-ipc/plexus/demos/webui/studio"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// The run the page asks for: a 512x384 picture, blur radius 4.
const width, height, radius = 512, 384, 4

var doc = js.Global().Get("document")

func byID(id string) js.Value { return doc.Call("getElementById", id) }

func status(s string) { byID("status").Set("textContent", s) }

// result sets window.plexusResult to v as JSON.
func result(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"encoding the result"}`)
	}
	js.Global().Set("plexusResult", string(b))
}

func fail(err error) {
	status("error: " + err.Error())
	result(map[string]string{"error": err.Error()})
}

func main() {
	loc := js.Global().Get("location")
	scheme := "ws://"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	url := scheme + loc.Get("host").String() + "/plexus"
	status("connecting to " + url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tr, err := ws.Dial(ctx, url, ws.DialConfig{})
	cancel()
	if err != nil {
		fail(err)
		select {} // keep the page's Go alive (wasm_exec.js would report an exit)
	}
	// The page opens the calls: it is the initiator; the host serves.
	sess := session.New(tr, session.Config{Role: session.Initiator})
	client := studio.NewStudioClient(sess)

	runs := make(chan struct{}, 1)
	click := js.FuncOf(func(js.Value, []js.Value) any {
		select {
		case runs <- struct{}{}:
		default: // one is pending already
		}
		return nil
	})
	defer click.Release()
	button := byID("run")
	button.Call("addEventListener", "click", click)

	runs <- struct{}{} // a run on load
	for range runs {
		button.Set("disabled", true)
		if err := runOnce(client); err != nil {
			fail(err)
		}
		button.Set("disabled", false)
	}
}

// summary is what window.plexusResult says of a completed run.
type summary struct {
	Steps    []string `json:"steps"`
	Width    int      `json:"width"`
	Height   int      `json:"height"`
	PNGBytes int      `json:"pngBytes"`
}

func runOnce(client *studio.StudioClient) error {
	list := byID("steps")
	list.Set("innerHTML", "")
	byID("result").Call("removeAttribute", "src")
	status(fmt.Sprintf("running: Run(%d, %d, %d)", width, height, radius))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var s summary
	var img []byte
	err := client.Run(ctx, width, height, radius, func(st studio.Step) error {
		s.Steps = append(s.Steps, st.Stage)
		li := doc.Call("createElement", "li")
		li.Set("textContent", fmt.Sprintf("%-18s %9.3f ms", st.Stage, st.Millis))
		list.Call("appendChild", li)
		if st.Stage == studio.StageDone {
			img = st.PNG
		}
		return nil
	})
	if err != nil {
		return err
	}
	if img == nil {
		return fmt.Errorf("the run ended without a %q step", studio.StageDone)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		return fmt.Errorf("the result is not a PNG: %w", err)
	}
	s.Width, s.Height, s.PNGBytes = cfg.Width, cfg.Height, len(img)
	byID("result").Set("src", "data:image/png;base64,"+base64.StdEncoding.EncodeToString(img))
	status(fmt.Sprintf("done: a %dx%d PNG of %d bytes", s.Width, s.Height, s.PNGBytes))
	result(s)
	return nil
}
