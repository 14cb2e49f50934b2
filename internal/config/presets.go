package config

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
)

//go:embed preset_pushstream.yaml
var pushStreamPresetYAML []byte

// presets are the built-in configurations `herald serve --preset NAME`
// runs, by name.
var presets = map[string][]byte{
	"default":    defaultYAML,
	"pushstream": pushStreamPresetYAML,
}

// PresetNames lists the built-in configurations' names, sorted.
func PresetNames() []string {
	return slices.Sorted(maps.Keys(presets))
}

// PresetYAML returns the text of the built-in configuration name:
// "default" (Herald's layout, as DefaultYAML) or "pushstream"
// (nginx-push-stream-module's sample misc/nginx.conf).
func PresetYAML(name string) ([]byte, error) {
	y, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown preset %q (want %s)", name, strings.Join(PresetNames(), " or "))
	}
	return append([]byte(nil), y...), nil
}

// Preset parses the built-in configuration name.
func Preset(name string) (*Config, error) {
	y, err := PresetYAML(name)
	if err != nil {
		return nil, err
	}
	return Parse(y, "preset "+name)
}
