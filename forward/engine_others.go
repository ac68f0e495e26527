//go:build !linux

package forward

// Engine is the data plane; it needs Linux's AF_PACKET sockets.
type Engine struct{}

// NewEngine returns an error: the data plane runs on Linux only.
func NewEngine(*EngineConfig) (*Engine, error) { return nil, errUnimplemented }

// Start does nothing on this system.
func (e *Engine) Start() error { return errUnimplemented }

// Update does nothing on this system.
func (e *Engine) Update([]ServiceSpec) error { return errUnimplemented }

// Stop does nothing on this system.
func (e *Engine) Stop() error { return nil }

// Stats returns nothing on this system.
func (e *Engine) Stats() Stats { return Stats{} }
