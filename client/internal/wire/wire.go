// Package wire holds what oapi-codegen makes of api/openapi.yaml. The
// client's public types are written by hand (client/types.go) and checked
// against the contract itself; this generation is kept, and kept current
// by TestGeneratedTypesAreCurrent, so that an integrator who generates a
// Go client from the contract gets code that compiles.
package wire

//go:generate go tool oapi-codegen -generate types -package wire -o types.gen.go ../../../api/openapi.yaml
