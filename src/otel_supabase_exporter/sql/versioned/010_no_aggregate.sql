-- exp_hist_agg was unused since the repeatable files merge with exp_hist_merge_all, and an aggregate
-- cannot carry a fixed search_path (Supabase's advisor flags it: function_search_path_mutable).
DROP AGGREGATE IF EXISTS exp_hist_agg(exp_histogram);
