// Package netsim builds throwaway networks of Linux network namespaces, veth pairs and bridges for tests, benchmarks and the demo, and always tears them down.
package netsim
