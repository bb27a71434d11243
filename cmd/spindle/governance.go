package main

import "github.com/spf13/cobra"

// governanceCommands registers this file's commands (being written for issue 5).
func (a *app) governanceCommands() []*cobra.Command { return nil }
