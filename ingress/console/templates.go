package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
)

// fragments are templates rendered alone (the polls) and the page that defines each.
var fragments = map[string]string{"list-live": "list.html", "incident-live": "incident.html"}

// parseTemplates parses layout.html with each page: a page defines
// "content" (and its fragments), rendered inside "layout".
func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"incidentHref": IncidentHref}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, path := range names {
		name := strings.TrimPrefix(path, "templates/")
		if name == "layout.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, path)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		pages[name] = t
	}
	for frag, page := range fragments {
		if pages[page] == nil || pages[page].Lookup(frag) == nil {
			return nil, fmt.Errorf("console templates: %s does not define %s", page, frag)
		}
		pages[frag] = pages[page]
	}
	return pages, nil
}

// templateName is what render executes: a page runs the layout, a fragment itself.
func templateName(name string) string {
	if _, ok := fragments[name]; ok {
		return name
	}
	return "layout"
}
