package queue

import (
	"errors"
	"fmt"
	"time"
)

// Scheduler is implemented by engines whose schedule a server may set after
// opening (serve's retry, notify and expire settings). It is optional: a
// backend without it keeps its own schedule.
type Scheduler interface {
	// SetSchedule replaces the schedule for messages queued and attempts
	// recorded from now on. Call it before the queue is shared between
	// goroutines (serve does, before it starts anything).
	SetSchedule(s Schedule) error
}

var _ Scheduler = (*Queue)(nil)

// SetSchedule replaces q's schedule after checking it (Schedule.Check).
func (q *Queue) SetSchedule(s Schedule) error {
	if err := s.Check(); err != nil {
		return err
	}
	q.sched = s
	return nil
}

// Check says what is wrong with a schedule: at least one retry interval,
// every interval and notify time a whole second or more (the queue keeps
// times in whole seconds), notify times in increasing order, and an expiry.
func (s Schedule) Check() error {
	if len(s.Retry) == 0 {
		return errors.New("invalid schedule: no retry interval: give at least one, such as 2m")
	}
	for _, d := range s.Retry {
		if d < time.Second {
			return fmt.Errorf("invalid retry interval %v: want 1s or more (the queue keeps whole seconds)", d)
		}
	}
	for i, d := range s.Notify {
		if d < time.Second {
			return fmt.Errorf("invalid notify time %v: want 1s or more after arrival", d)
		}
		if i > 0 && d <= s.Notify[i-1] {
			return fmt.Errorf("invalid notify times: %v comes after %v: list them from the earliest", d, s.Notify[i-1])
		}
	}
	if s.Expire < time.Second {
		return fmt.Errorf("invalid expiry %v: want 1s or more after arrival", s.Expire)
	}
	return nil
}
