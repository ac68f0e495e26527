// Package report turns benchmark samples into the outputs of `make bench`:
// a markdown results page, the raw samples as JSON, and a PNG chart.
package report
