package vrrp

// Effects is how a Machine acts on the world. The Manager implements it
// with sockets, netlink and scripts; tests record the calls. A Machine
// calls Effects from the goroutine that steps it, in the order keepalived
// acts (the first advert before the addresses and the gratuitous ARPs).
type Effects interface {
	// SendAdvert sends one advert of the instance with priority prio,
	// to its multicast group or to each unicast peer. seq is the AH
	// sequence number (0 without AH).
	SendAdvert(inst string, prio uint8, seq uint32)
	// SetAddrs adds (on) or removes the instance's virtual_ipaddress and
	// virtual_ipaddress_excluded entries.
	SetAddrs(inst string, on bool)
	// SendGARPs sends repeat gratuitous ARPs for each of the instance's
	// addresses.
	SendGARPs(inst string, repeat int)
	// Notify reports a state change or event, for notify scripts.
	Notify(n Notification)
}

// Event is what a Notification reports.
type Event uint8

const (
	_ Event = iota
	// EventState: the instance or group entered Notification.State.
	EventState
	// EventMasterRxLowerPri: a master received a lower priority advert
	// (notify_master_rx_lower_pri).
	EventMasterRxLowerPri
)

// Notification is a state change of an instance or sync group.
type Notification struct {
	Event Event
	// Group is true for a vrrp_sync_group, false for a vrrp_instance.
	Group bool
	Name  string
	State State
	// Priority is the instance's effective priority (0 for a group).
	Priority uint8
}
