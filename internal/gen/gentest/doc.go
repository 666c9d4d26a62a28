// Package gentest holds what the tests of the generator's golden packages
// (shapetest, leasetest) share: the round trip their fuzz targets put the
// generated decoders through. It is imported by tests only.
package gentest
