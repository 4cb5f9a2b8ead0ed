package workflows

// ReportToCorrelator is the helper the incident workflow calls, for the
// external tests.
var ReportToCorrelator = reportToCorrelator
