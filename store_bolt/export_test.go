package storebolt

import "time"

// Commits returns the number of write transactions s has committed: a benchmark's
// measure of how well commits are shared.
func Commits(s *Store) int64 { return s.commit.commits.Load() }

// PagesWritten returns the number of page writes s's write transactions have made
// (bbolt writes each dirty page, and each commit's meta page, with a write of its own).
func PagesWritten(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}

// TxTimes returns how long s's write transactions have spent, in all, turning their
// changes into pages (spill) and writing and syncing those (write).
func TxTimes(s *Store) (spill, write time.Duration) {
	st := s.db.Stats().TxStats
	return st.GetSpillTime(), st.GetWriteTime()
}
