#!/usr/bin/env node
import '../dist/migrate.js';
