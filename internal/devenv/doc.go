// Package devenv makes everything "mulegate dev" and the tests need to run
// a gateway without outside help: a development CA with server and client
// certificates, an ES256 signing key with its JWKS, and certificate-bound
// tokens. It is NOT for production and is never imported by the core
// packages.
package devenv
