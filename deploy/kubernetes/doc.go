// Package kubernetes holds mulegate's Kubernetes base (base/, applied
// with kubectl apply -k) and the test that checks it against the
// Kubernetes API types. It is a module of its own so that the product's
// go.mod does not carry the Kubernetes API.
package kubernetes
