-- A module for the require tests.
local M = {}
function M.double(n) return 2 * n end
return M
