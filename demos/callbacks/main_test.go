//go:build linux

package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/internal/demotest"
)

func TestMain(m *testing.M) { demotest.Main(m, pluginConfig) }

func TestDemo(t *testing.T) {
	s := demotest.Run(t, run)
	// The callbacks come in the template's order, before Render returns.
	require.Contains(t, s, `host -> plugin: Render("invoice")
  host <- plugin: Value("customer") -> "Ada Lovelace"
  host <- plugin: List("items") -> 2 items
  host <- plugin: Value("total") -> "42.00 EUR"
host -> plugin: Render returned after 3 callbacks, in `)
	require.Contains(t, s, `
  | Invoice for Ada Lovelace
  |   - 1 x analytical engine manual
  |   - 3 x punched cards
  | Total: 42.00 EUR
`)
	require.Contains(t, s, `  host <- plugin: Value("nobody") -> NOT_FOUND
host -> plugin: Render failed with plexus: NOT_FOUND: template: broken:1:7: executing "broken" at <value "nobody">: error calling value: plexus: NOT_FOUND: no value "nobody"
`)
	require.Contains(t, s, "closed the plugin: ok\n")
}
