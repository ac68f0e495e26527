// Package checktest holds test helpers for package check: a fake clock,
// and loopback servers that misbehave on purpose.
package checktest
