package jujuapi

// NewAdmissionWithUsage is NewAdmission with the descriptor limit and
// count taken from usage rather than from the process.
func NewAdmissionWithUsage(opts AdmissionOptions, usage func() (limit, open int)) *Admission {
	a := NewAdmission(opts)
	a.usage = usage
	a.limitNow = func() (int, bool) { l, _ := usage(); return l, true }
	a.Sample()
	return a
}
