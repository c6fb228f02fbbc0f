package storebolt

// Commits returns the number of write transactions s has committed: a benchmark's
// measure of how well commits are shared.
func Commits(s *Store) int64 { return s.commit.commits.Load() }

// PagesWritten returns the number of page writes s's write transactions have made
// (bbolt writes each dirty page, and each commit's meta page, with a write of its own).
func PagesWritten(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}
