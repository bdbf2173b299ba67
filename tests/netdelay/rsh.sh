#!/bin/sh
# Open MPI's rsh agent for the delay-line namespaces: mpirun --mca plm_rsh_agent
# tests/netdelay/rsh.sh runs each host's orted in the namespace named HOST (netns.sh rsh).
exec sh "$(dirname "$0")/netns.sh" rsh "$@"
