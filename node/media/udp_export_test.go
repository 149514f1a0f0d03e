package media

func lateForTest(s *UDPSource) uint64    { return s.Stats().Late }
func foreignForTest(s *UDPSource) uint64 { return s.Stats().Foreign }
