package host

import (
	"fmt"
	"slices"
	"sort"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/clickagg/clickagg/wasm/internal/abi"
)

// AllowedWASI lists the wasi_snapshot_preview1 functions a filter may import: what a
// Go wasip1 reactor needs to start, and nothing that reaches files, sockets or the
// host's environment. Filters run with no arguments, no environment, no preopened
// directories (so the fd_* functions see only stdin/stdout/stderr), a no-op sleep,
// the real clock and crypto/rand; stdout and stderr go to the failure log.
var AllowedWASI = []string{
	"args_get", "args_sizes_get", "environ_get", "environ_sizes_get",
	"clock_time_get", "random_get", "sched_yield", "poll_oneoff", "proc_exit",
	"fd_write", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags",
	"fd_prestat_get", "fd_prestat_dir_name",
}

// checkModule enforces ABI v1 on a compiled module: imports only from the allow
// list with the host's signatures, no imported memory, the required exports with
// their signatures, and no _start.
func checkModule(wr wazero.Runtime, cm wazero.CompiledModule) error {
	if len(cm.ImportedMemories()) > 0 {
		return fmt.Errorf("%w: memory imports are not allowed; export a memory named %q", ErrImport, abi.MemoryExport)
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		var host api.Module
		switch {
		case mod == abi.HostModule:
			host = wr.Module(abi.HostModule)
		case mod == wasi_snapshot_preview1.ModuleName && slices.Contains(AllowedWASI, name):
			host = wr.Module(wasi_snapshot_preview1.ModuleName)
		default:
			return fmt.Errorf("%w: %s.%s (allowed: module %s and WASI %v)", ErrImport, mod, name, abi.HostModule, AllowedWASI)
		}
		hdef, ok := host.ExportedFunctionDefinitions()[name]
		if !ok {
			return fmt.Errorf("%w: %s.%s does not exist", ErrImport, mod, name)
		}
		if !sameSignature(def, hdef) {
			return fmt.Errorf("%w: %s.%s has signature %s, want %s", ErrImport, mod, name, signature(def), signature(hdef))
		}
	}
	if _, ok := cm.ExportedMemories()[abi.MemoryExport]; !ok {
		return fmt.Errorf("%w: no memory exported as %q", ErrExport, abi.MemoryExport)
	}
	exports := cm.ExportedFunctions()
	if _, ok := exports[abi.StartExport]; ok {
		return fmt.Errorf("%w: %s is exported: filters are reactors (Go: -buildmode=c-shared)", ErrExport, abi.StartExport)
	}
	want := []struct {
		name     string
		params   []api.ValueType
		results  []api.ValueType
		optional bool
	}{
		{abi.VersionExport, nil, []api.ValueType{api.ValueTypeI32}, false},
		{abi.InputExport, nil, []api.ValueType{api.ValueTypeI32}, false},
		{abi.FilterExport, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}, false},
		{abi.InitExport, nil, nil, true},
	}
	for _, w := range want {
		def, ok := exports[w.name]
		if !ok {
			if w.optional {
				continue
			}
			return fmt.Errorf("%w: no function exported as %q", ErrExport, w.name)
		}
		if !slices.Equal(def.ParamTypes(), w.params) || !slices.Equal(def.ResultTypes(), w.results) {
			return fmt.Errorf("%w: %s has signature %s", ErrExport, w.name, signature(def))
		}
	}
	return nil
}

func sameSignature(a, b api.FunctionDefinition) bool {
	return slices.Equal(a.ParamTypes(), b.ParamTypes()) && slices.Equal(a.ResultTypes(), b.ResultTypes())
}

func signature(d api.FunctionDefinition) string {
	names := func(ts []api.ValueType) []string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return s
	}
	return fmt.Sprintf("%v -> %v", names(d.ParamTypes()), names(d.ResultTypes()))
}

// importNames lists a module's imports as "module.name", sorted.
func importNames(cm wazero.CompiledModule) []string {
	var s []string
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		s = append(s, mod+"."+name)
	}
	sort.Strings(s)
	return s
}
