// Package config loads mulegate's configuration: a YAML file, then
// MULEGATE_* environment overrides, then secrets read from files. Validate
// reports every problem at once, each naming its key. There is no global
// configuration; run builds everything from the value Load returns. It
// imports the standard library, yaml, the domain (organisation types) and
// auth (its algorithm allow-list), so that each rule is written once.
package config
