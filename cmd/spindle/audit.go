package main

import "github.com/spf13/cobra"

// auditCommands registers this file's commands (being written for issue 5).
func (a *app) auditCommands() []*cobra.Command { return nil }
