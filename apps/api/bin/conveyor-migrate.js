#!/usr/bin/env node
import '../dist/cli/migrate.js';
