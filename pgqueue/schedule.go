package pgqueue

import "mqsh/queue"

var _ queue.Scheduler = (*Queue)(nil)

// SetSchedule replaces the schedule for messages queued and attempts
// recorded from now on, after checking it (queue.Schedule.Check): serve's
// retry, notify and expire settings. Call it before the queue is shared
// between goroutines.
func (q *Queue) SetSchedule(s queue.Schedule) error {
	if err := s.Check(); err != nil {
		return err
	}
	q.sched = s
	return nil
}
