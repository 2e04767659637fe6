package api

import (
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/clickagg/clickagg/core/auth"
	"github.com/clickagg/clickagg/core/filters"
	"github.com/clickagg/clickagg/pkg/wire"
	"github.com/clickagg/clickagg/wasm/host"
)

func (s *Server) routeFilters() {
	s.route("PUT /v1/filters/{name}", "", s.uploadFilter)
	s.route("GET /v1/filters", "", s.listFilters)
	s.route("GET /v1/filters/{name}", "", s.getFilter)
	s.route("POST /v1/filters/{name}/activate", "", s.activateFilter)
}

// filterCaller admits the admin and partners; others get 403.
func (s *Server) filterCaller(w http.ResponseWriter, p auth.Principal) (filters.Caller, bool) {
	if s.o.Filters == nil {
		writeError(w, http.StatusNotFound, "this core has no filter registry")
		return filters.Caller{}, false
	}
	switch p.Role {
	case auth.RoleAdmin:
		return filters.Caller{Admin: true}, true
	case auth.RolePartner:
		return filters.Caller{Owner: p.Owner}, true
	}
	writeError(w, http.StatusForbidden, "filters are managed with the admin token or a partner key")
	return filters.Caller{}, false
}

func (s *Server) filterError(w http.ResponseWriter, name string, err error) {
	switch {
	case errors.Is(err, filters.ErrNotFound):
		writeError(w, http.StatusNotFound, "no filter %q", name)
	case errors.Is(err, filters.ErrInvalid):
		writeError(w, http.StatusBadRequest, "%v", err)
	default:
		writeError(w, http.StatusServiceUnavailable, "%v", err)
	}
}

func (s *Server) uploadFilter(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	c, ok := s.filterCaller(w, p)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := wire.CheckFilterName(name); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, host.MaxModuleSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the module: %v", err)
		return
	}
	if len(body) > host.MaxModuleSize {
		writeError(w, http.StatusRequestEntityTooLarge, "module is larger than %d bytes", host.MaxModuleSize)
		return
	}
	v, info, err := s.o.Filters.Upload(r.Context(), c, name, body)
	if err != nil {
		s.filterError(w, name, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"name": name, "version": v.Version, "sha256": v.SHA256, "size": v.Size,
		"imports": info.Imports, "instance_memory": info.InstanceMemory, "dry_run": info.DryRun})
}

func (s *Server) filterJSON(name string, f wire.Filter) map[string]any {
	out := map[string]any{"name": name, "owner": f.Owner, "active": f.Active, "versions": f.Versions}
	if st, edges := s.filterStats(name); edges > 0 {
		out["stats"], out["edges_running"] = st, edges
	}
	return out
}

// filterStats sums a filter's counters over the edges that report running it.
func (s *Server) filterStats(name string) (wire.FilterStatus, int) {
	var sum wire.FilterStatus
	edges := 0
	if s.o.EdgeStatus == nil {
		return sum, 0
	}
	for _, st := range s.o.EdgeStatus() {
		for _, f := range st.Filters {
			if f.Name == name {
				edges++
				sum.Calls += f.Calls
				sum.Accepts += f.Accepts
				sum.Rejects += f.Rejects
				sum.Flags += f.Flags
				sum.Traps += f.Traps
				sum.Timeouts += f.Timeouts
			}
		}
	}
	sum.Name = name
	return sum, edges
}

func (s *Server) listFilters(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	c, ok := s.filterCaller(w, p)
	if !ok {
		return
	}
	all, err := s.o.Filters.List(r.Context(), c)
	if err != nil {
		s.filterError(w, "", err)
		return
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]map[string]any, len(names))
	for i, n := range names {
		out[i] = s.filterJSON(n, all[n])
	}
	writeJSON(w, http.StatusOK, map[string]any{"filters": out})
}

func (s *Server) getFilter(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	c, ok := s.filterCaller(w, p)
	if !ok {
		return
	}
	f, err := s.o.Filters.Get(r.Context(), c, r.PathValue("name"))
	if err != nil {
		s.filterError(w, r.PathValue("name"), err)
		return
	}
	writeJSON(w, http.StatusOK, s.filterJSON(r.PathValue("name"), f))
}

func (s *Server) activateFilter(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	c, ok := s.filterCaller(w, p)
	if !ok {
		return
	}
	var req struct {
		Version *int `json:"version"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Version == nil || *req.Version < 0 {
		writeError(w, http.StatusBadRequest, `body must be {"version": N} with N ≥ 1, or 0 to deactivate`)
		return
	}
	f, err := s.o.Filters.Activate(r.Context(), c, r.PathValue("name"), *req.Version)
	if err != nil {
		s.filterError(w, r.PathValue("name"), err)
		return
	}
	writeJSON(w, http.StatusOK, s.filterJSON(r.PathValue("name"), f))
}
