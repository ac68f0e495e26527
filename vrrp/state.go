package vrrp

// State is a VRRP instance's or sync group's state.
type State uint8

const (
	_ State = iota
	// StateInit: not started yet, or waiting for its tracking scripts'
	// first result.
	StateInit
	// StateBackup: listening for the master's adverts.
	StateBackup
	// StateMaster: holding the addresses and sending adverts.
	StateMaster
	// StateFault: a tracked interface or script is down; the instance
	// neither sends nor listens.
	StateFault
	// StateStop: stopped (shutdown).
	StateStop
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStop:
		return "STOP"
	}
	return "invalid"
}
