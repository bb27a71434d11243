package main

import "github.com/spf13/cobra"

// credentialCommands registers this file's commands (being written for issue 5).
func (a *app) credentialCommands() []*cobra.Command { return nil }
