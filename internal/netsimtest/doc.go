// Package netsimtest creates netsim labs bound to a test: skipped when not root, closed when the test ends.
package netsimtest
