// Package auth turns a verified client certificate and a bearer JWT into a
// Principal: it holds the organisation registry and the scopes each
// organisation type allows, loads and refreshes the JWKS, verifies tokens
// with an algorithm allow-list and RFC 8705 certificate binding, and caches
// verified tokens so that steady traffic does not pay a signature check per
// request. It imports the standard library, golang-jwt and the domain
// (internal/domain) for the one definition of an organisation type.
package auth
