NAME                    SIZE     PARENT                      FMT  PROT  LOCK
imported                  3 MiB                                2            
imported@@SNAP@    3 MiB                                2  yes       
importedclone             3 MiB  rbd/imported@@SNAP@    2            
vol2                     10 MiB                                2            
vol3                    1.5 MiB                                2            
volx                      8 MiB                                2            
