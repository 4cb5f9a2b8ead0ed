package slack

// FindPageSize is exported to the external tests: they post more than a page.
const FindPageSize = findPageSize
