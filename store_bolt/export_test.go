package storebolt

// Commits returns the number of write transactions s has committed: a benchmark's
// measure of how well commits are shared.
func Commits(s *Store) int64 { return s.commit.commits.Load() }
